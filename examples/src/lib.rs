//! Runnable examples: a whole local London federation with synthetic data.
