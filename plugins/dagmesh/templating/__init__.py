"""The Jinja layer of configs and SQL: the rules templates follow, and the project's macros."""
