"""Model families (`registry`), the model card (`card`) and model folders (`store`)."""
