// Crash harness for the Index durability test: filled in with the Index module.
print("index-crash-harness")
