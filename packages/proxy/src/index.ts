// Entry point: re-exports only.
export {};
