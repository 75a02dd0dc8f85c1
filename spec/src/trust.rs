//! Trust in types: data that came over the network is `Unverified<T>` and becomes `Verified<T>`
//! only through a verify function of this crate.

use std::ops::Deref;

/// Data as received: nothing about it has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified<T>(T);

impl<T> Unverified<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The raw value, with no claim about it. Named so that every use stands out in review.
    pub fn unauthenticated_inner(&self) -> &T {
        &self.0
    }

    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

/// Data that passed verification. Only this crate's verify functions construct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
