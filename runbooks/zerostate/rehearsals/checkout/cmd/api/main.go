// Placeholder for the rehearsal's build context: the API server (/health, /ready on :8080,
// /metrics on :9090). The Docker stand-in reads this file; nothing compiles or runs it.
package main

func main() {}
