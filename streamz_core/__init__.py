"""streamz_core: reactive streaming pipelines on an event loop."""
