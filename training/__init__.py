"""Training, evaluation and export of Emotion Lens expression models (Keras 3, backend-agnostic).

Only export (TFLite) and quantization-aware training use TensorFlow directly; everything else runs on
any Keras 3 backend (`KERAS_BACKEND=jax` on the GPU machines).
"""
