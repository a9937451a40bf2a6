"""Survey backends: one small interface, several surveys."""
