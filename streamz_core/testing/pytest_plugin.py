"""pytest fixtures for streamz_core users."""
