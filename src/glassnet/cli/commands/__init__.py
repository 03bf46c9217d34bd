"""The sub-commands of ``glassnet``: one module per command group, each registering itself."""
