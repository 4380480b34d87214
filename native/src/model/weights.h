// Binding named checkpoint tensors to the views the forward pass reads,
// checking each one's presence, dtype and shape against the config.
#pragma once

#include <string>

#include "model/model.h"
#include "result.h"

namespace hs {

// Fills model->embed, lm_head, final_norm, layers from model->tensors
// (model->cfg must be set; its vocab_size may be 0 = take it from the
// embeddings). Errors name the file and the tensor.
Status bind_weights(Model* model);

}  // namespace hs
