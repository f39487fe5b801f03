"""Command-line front end. Each command lives in its own module and imports heavy things lazily,
so that ``imagecheck check`` never loads Slack or Redis code it does not use."""
