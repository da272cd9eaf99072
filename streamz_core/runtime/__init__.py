"""The built-in single-machine actor/task runtime."""
