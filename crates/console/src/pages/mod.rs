//! One module per page (or group of pages), each with its handlers and markup.

pub mod audit;
pub mod directory;
pub mod health;
pub mod imports;
pub mod jobs;
pub mod login;
pub mod notifications;
pub mod operators;
pub mod overview;
pub mod people;
pub mod policies;
