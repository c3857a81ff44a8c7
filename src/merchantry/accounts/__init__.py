"""Staff accounts: who may sign in to the admin and the Admin API."""
