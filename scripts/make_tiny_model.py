"""Writes a 4-layer llama with random weights and a small BPE tokenizer with a chat template, in the
layout exo accepts for a local model (MLX safetensors + a *.safetensors.index.json). No model can be
downloaded where Clusterbar's tests run; the generated text is gibberish, the protocol is real.
Usage: python make_tiny_model.py OUT_DIR   (run with the real-exo venv's python: needs mlx, mlx-lm)."""
import json
import os
import sys
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
specials = ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|pad|>"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
corpus = [
    "Hello world. The quick brown fox jumps over the lazy dog.",
    "A cluster of Macs serves one large language model over Thunderbolt.",
    "user assistant system What is the capital of France? Paris is the capital.",
] * 50
tok.train_from_iterator(
    corpus,
    trainer=trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    ),
)
template = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] if message['content'] is string else '' }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
hf = PreTrainedTokenizerFast(
    tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<|pad|>"
)
hf.chat_template = template
hf.save_pretrained(str(out))
(out / "chat_template.jinja").write_text(template)
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 4,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "rms_norm_eps": 1e-5, "vocab_size": tok.get_vocab_size(), "max_position_embeddings": 2048,
    "rope_theta": 10000.0, "tie_word_embeddings": True, "bos_token_id": hf.bos_token_id,
    "eos_token_id": hf.eos_token_id, "torch_dtype": "float16",
}
mx.random.seed(0)
weights = {
    k: v.astype(mx.float16)
    for k, v in tree_flatten(llama.Model(llama.ModelArgs.from_dict(config)).parameters())
}
mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
# exo accepts a local model directory only when it has a *.safetensors.index.json.
index = {
    "metadata": {"total_size": os.path.getsize(out / "model.safetensors")},
    "weight_map": {k: "model.safetensors" for k in sorted(weights)},
}
(out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
(out / "config.json").write_text(json.dumps(config, indent=2))
(out / "generation_config.json").write_text(
    json.dumps({"bos_token_id": hf.bos_token_id, "eos_token_id": hf.eos_token_id})
)
print("tiny model at", out)
