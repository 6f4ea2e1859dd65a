//! Normalization: the same logical value read from two engines compares equal.
