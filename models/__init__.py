"""Domain data: SQLModel tables, enums and pure rules."""
