//! Preflight: the checks `migtui check` prints and the `plan` gate measures.
