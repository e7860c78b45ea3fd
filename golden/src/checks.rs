//! The input checks both references apply before a decode step, written once.

use tokenfab_checkpoint::ModelConfig;

use crate::GoldenError;

/// A token id must index a row of the embedding table.
pub fn check_token(config: &ModelConfig, token: u32) -> Result<(), GoldenError> {
    if token as usize >= config.vocab_size {
        return Err(GoldenError::TokenOutOfRange {
            token,
            vocab_size: config.vocab_size,
        });
    }
    Ok(())
}

/// A context of `positions` positions must fit `max_position_embeddings`.
pub fn check_context(config: &ModelConfig, positions: usize) -> Result<(), GoldenError> {
    let max = config.max_position_embeddings;
    if positions > max {
        return Err(GoldenError::ContextTooLong {
            positions,
            max_position_embeddings: max,
        });
    }
    Ok(())
}
