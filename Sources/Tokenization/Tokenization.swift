// Tokenization module: see DESIGN.md. Contents arrive with their issues.
