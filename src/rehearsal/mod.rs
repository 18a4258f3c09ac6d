pub mod decisions;
