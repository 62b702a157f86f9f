// filled in by its stage's implementation
