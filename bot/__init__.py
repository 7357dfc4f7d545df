"""The conversation engine, its flows, the app factory and the command line."""
