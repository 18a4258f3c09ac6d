// Stub entry point: a rehearsal runs no container.
