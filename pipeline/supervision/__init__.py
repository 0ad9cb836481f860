"""Policies the supervisor applies to its children: restart intensity, memory growth."""
