"""ZenML stacks as YAML files (ZenML's export format) and the code that registers them."""
