"""The command-line layer: parses flags, calls the flow, prints. The only place click is used."""
