// Placeholder for the rehearsal's build context: the migration tool (`migrate up`, `migrate
// status`), configured by DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME and DB_SSLMODE.
package main

func main() {}
