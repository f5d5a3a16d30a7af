"""Online serving: a loaded model and the FastAPI app in front of it."""
