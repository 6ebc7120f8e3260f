"""PyTorch twins of pyseq models, built from pyseq's weights, for the model-level benchmarks
(test_models.py, test_end_to_end.py)."""

from __future__ import annotations


def torch_char_lm(torch, vocab: int, emb: int, units: int, weights):
    """nn.Embedding(vocab, emb) -> nn.LSTM(emb, units, batch_first=True) -> nn.Linear(units, vocab)
    holding ``weights``, pyseq's ``model.get_weights()`` of Embedding -> LSTM -> Dense:
    (embedding, kernel, recurrent_kernel, bias, dense kernel, dense bias).

    Keras's gate order i, f, c, o is PyTorch's i, f, g, o: the kernels are only transposed.
    pyseq's single bias goes into bias_ih; bias_hh is zero and frozen (a trainable bias_hh would
    get bias_ih's gradient too and double the bias's optimizer steps).
    """
    nn = torch.nn
    emb_w, kernel, rec, bias, dense_k, dense_b = weights

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, emb)
            self.lstm = nn.LSTM(emb, units, batch_first=True)
            self.fc = nn.Linear(units, vocab)

        def forward(self, x):
            return self.fc(self.lstm(self.emb(x))[0])

    net = CharLM()
    with torch.no_grad():
        net.emb.weight.copy_(torch.from_numpy(emb_w))
        net.lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))   # (4H, I)
        net.lstm.weight_hh_l0.copy_(torch.from_numpy(rec.T.copy()))
        net.lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        net.lstm.bias_hh_l0.zero_()
        net.fc.weight.copy_(torch.from_numpy(dense_k.T.copy()))
        net.fc.bias.copy_(torch.from_numpy(dense_b))
    net.lstm.bias_hh_l0.requires_grad_(False)
    return net
