"""PyTorch reference of the `lavt_one` network (LAVT: Swin + BERT + PWAM +
SimpleDecoding), written from models/README.md ("The lavt_one network --
exact semantics"), which is the contract shared with models/lavt.c.

Sizes come from model.yaml. state_dict names are the official LAVT names
(backbone.*, text_encoder.*, classifier.*) so the C code binds an exported
file and a converted official checkpoint alike. Note: the gated residual
lives at backbone.layers.i.res_gate.{0,2}.weight (a sibling of
backbone.layers.i.fusion.*), as in the official MMBasicLayer.

Also: build_model(), load_safetensors()/save_safetensors() (format written by
hand: u64 LE header length, JSON header, raw little-endian tensors),
preprocess(), export_state() (what goes into weights.safetensors).
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


# --------------------------------------------------------------------------
# config

def load_cfg(model_yaml):
    with open(model_yaml, "r", encoding="utf-8") as f:
        return yaml.safe_load(f)


def gelu(x):
    """Exact (erf) GELU, x * Phi(x), from elementary ops.

    Not F.gelu: in Debian's torch 1.13 CPU build, F.gelu's backward goes
    through oneDNN, which returns garbage when the incoming gradient is not
    contiguous (it is in PWAM, whose outputs are permuted): gradients of
    1e9..1e35 at fusion.project_mm / vis_project, i.e. the NaN and
    "non-finite grad norm" failures of the first training runs. Values are
    the same as F.gelu to ~1e-7."""
    return 0.5 * x * (1.0 + torch.erf(x * 0.7071067811865476))


class GELU(nn.Module):
    """nn.GELU replacement (no parameters; same state_dict)."""

    def forward(self, x):
        return gelu(x)


# --------------------------------------------------------------------------
# BERT text encoder (HF BertModel names, no pooler)

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=float(c["layer_norm_eps"]))
        self.dropout = nn.Dropout(0.1)

    def forward(self, ids):
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        x = (self.word_embeddings(ids) + self.position_embeddings(pos)[None]
             + self.token_type_embeddings.weight[0][None, None])
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        B, T, H = x.shape
        hd = H // self.heads

        def split(t):
            return t.view(B, T, self.heads, hd).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        s = s + (1.0 - mask.to(x.dtype))[:, None, None, :] * -10000.0
        p = self.dropout(torch.softmax(s, dim=-1))
        c = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, H)
        return c


class BertSelfOutput(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, c, x):
        return self.LayerNorm(self.dropout(self.dense(c)) + x)


class BertAttention(nn.Module):
    def __init__(self, h, heads, eps):
        super().__init__()
        self.self = BertSelfAttention(h, heads)
        self.output = BertSelfOutput(h, eps)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, h, i):
        super().__init__()
        self.dense = nn.Linear(h, i)

    def forward(self, x):
        return gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, h, i, eps):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, y, a):
        return self.LayerNorm(self.dropout(self.dense(y)) + a)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], float(c["layer_norm_eps"])
        self.attention = BertAttention(h, c["num_heads"], eps)
        self.intermediate = BertIntermediate(h, c["intermediate_size"])
        self.output = BertOutput(h, c["intermediate_size"], eps)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_layers"])])

    def forward(self, x, mask):
        for l in self.layer:
            x = l(x, mask)
        return x


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, ids, mask):
        return self.encoder(self.embeddings(ids), mask)


# --------------------------------------------------------------------------
# Swin backbone with PWAM

def rel_index(w):
    ys, xs = np.meshgrid(np.arange(w), np.arange(w), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    idx = (ys[:, None] - ys[None, :] + w - 1) * (2 * w - 1) + (xs[:, None] - xs[None, :] + w - 1)
    return torch.from_numpy(idx.astype(np.int64))


def shift_mask(Hp, Wp, w, s):
    """[nW][w*w][w*w] additive mask (0 / -100) for a shifted block."""
    def region(n):
        r = np.zeros(n, np.int64)
        r[n - w:n - s] = 1
        r[n - s:] = 2
        # rows [0, n-w) stay 0 (slice(0, -w) is empty when n == w)
        return r
    lab = region(Hp)[:, None] * 3 + region(Wp)[None, :]
    lab = lab.reshape(Hp // w, w, Wp // w, w).transpose(0, 2, 1, 3).reshape(-1, w * w)
    m = np.where(lab[:, :, None] != lab[:, None, :], -100.0, 0.0).astype(np.float32)
    return torch.from_numpy(m)


def drop_path(x, p, training):
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    r = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * r / keep


class WindowAttention(nn.Module):
    def __init__(self, dim, w, heads):
        super().__init__()
        self.dim, self.w, self.heads = dim, w, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
        self.register_buffer("relative_position_index", rel_index(w), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x, mask=None):
        Bn, N, C = x.shape
        qkv = self.qkv(x).reshape(Bn, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(N, N, self.heads).permute(2, 0, 1)[None]
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(Bn // nW, nW, self.heads, N, N) + mask[None, :, None]
            attn = attn.view(Bn, self.heads, N, N)
        attn = torch.softmax(attn, dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(Bn, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, w, shift, mlp_ratio, dp):
        super().__init__()
        self.w, self.shift, self.dp = w, shift, dp
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, w, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, H, W):
        B, L, C = x.shape
        w, s = self.w, self.shift
        shortcut = x
        x = self.norm1(x).view(B, H, W, C)
        pr, pb = (w - W % w) % w, (w - H % w) % w
        x = F.pad(x, (0, 0, 0, pr, 0, pb))
        Hp, Wp = H + pb, W + pr
        mask = None
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
            mask = shift_mask(Hp, Wp, w, s).to(x.device)
        xw = x.view(B, Hp // w, w, Wp // w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, C)
        aw = self.attn(xw, mask)
        x = aw.view(B, Hp // w, Wp // w, w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
        if s > 0:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        x = x[:, :H, :W, :].reshape(B, H * W, C)
        x = shortcut + drop_path(x, self.dp, self.training)
        x = x + drop_path(self.mlp(self.norm2(x)), self.dp, self.training)
        return x


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x, H, W):
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        x = x.reshape(B, -1, 4 * C)
        return self.reduction(self.norm(x))


class SpatialImageLanguageAttention(nn.Module):
    def __init__(self, dim, l_dim, heads):
        super().__init__()
        self.key_channels, self.heads = dim, heads
        self.f_key = nn.Sequential(nn.Conv1d(l_dim, dim, 1))
        self.f_query = nn.Sequential(nn.Conv1d(dim, dim, 1), nn.InstanceNorm1d(dim))
        self.f_value = nn.Sequential(nn.Conv1d(l_dim, dim, 1))
        self.W = nn.Sequential(nn.Conv1d(dim, dim, 1), nn.InstanceNorm1d(dim))

    def forward(self, x, l, lmask):
        # x [B][HW][D], l [B][Lh][T], lmask [B][T]
        B, HW, D = x.shape
        nh = self.heads
        m = lmask.to(x.dtype)[:, None, :]                       # B,1,T
        q = self.f_query(x.permute(0, 2, 1)).permute(0, 2, 1)  # B,HW,D
        k = self.f_key(l) * m                                  # B,D,T
        v = self.f_value(l) * m
        T = v.shape[-1]
        q = q.reshape(B, HW, nh, D // nh).permute(0, 2, 1, 3)
        k = k.reshape(B, nh, D // nh, T)
        v = v.reshape(B, nh, D // nh, T)
        sim = torch.matmul(q, k) * (self.key_channels ** -0.5)
        sim = sim + (10000.0 * m[:, None] - 10000.0)
        sim = torch.softmax(sim, dim=-1)
        out = torch.matmul(sim, v.permute(0, 1, 3, 2))         # B,nh,HW,hd
        out = out.permute(0, 2, 1, 3).reshape(B, HW, D).permute(0, 2, 1)
        return self.W(out).permute(0, 2, 1)                    # B,HW,D


class PWAM(nn.Module):
    def __init__(self, dim, l_dim, heads):
        super().__init__()
        self.vis_project = nn.Sequential(nn.Conv1d(dim, dim, 1), GELU(), nn.Dropout(0.0))
        self.image_lang_att = SpatialImageLanguageAttention(dim, l_dim, heads)
        self.project_mm = nn.Sequential(nn.Conv1d(dim, dim, 1), GELU(), nn.Dropout(0.0))

    def forward(self, x, l, lmask):
        vis = self.vis_project(x.permute(0, 2, 1))            # B,D,HW
        lang = self.image_lang_att(x, l, lmask).permute(0, 2, 1)
        return self.project_mm(vis * lang).permute(0, 2, 1)   # B,HW,D


class MMBasicLayer(nn.Module):
    def __init__(self, dim, depth, heads, w, mlp_ratio, l_dim, fheads, downsample, dps):
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinBlock(dim, heads, w, 0 if j % 2 == 0 else w // 2, mlp_ratio, dps[j])
            for j in range(depth)])
        self.fusion = PWAM(dim, l_dim, fheads)
        self.res_gate = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.ReLU(),
                                      nn.Linear(dim, dim, bias=False), nn.Tanh())
        nn.init.zeros_(self.res_gate[2].weight)  # gate = tanh(0) = 0 at init
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x, H, W, l, lmask):
        for b in self.blocks:
            x = b(x, H, W)
        xr = self.fusion(x, l, lmask)
        x = x + self.res_gate(xr) * xr
        if self.downsample is not None:
            return xr, H, W, self.downsample(x, H, W), (H + 1) // 2, (W + 1) // 2
        return xr, H, W, x, H, W


class PatchEmbed(nn.Module):
    def __init__(self, p, C):
        super().__init__()
        self.p = p
        self.proj = nn.Conv2d(3, C, p, stride=p)
        self.norm = nn.LayerNorm(C)

    def forward(self, x):
        p = self.p
        H, W = x.shape[-2:]
        if W % p or H % p:
            x = F.pad(x, (0, (p - W % p) % p, 0, (p - H % p) % p))
        x = self.proj(x)
        Wh, Ww = x.shape[-2:]
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x, Wh, Ww


class MultiModalSwin(nn.Module):
    def __init__(self, sc, fc, l_dim, drop_path_rate=0.0):
        super().__init__()
        C = sc["embed_dim"]
        depths = sc["depths"]
        self.patch_embed = PatchEmbed(sc["patch_size"], C)
        dpr = list(np.linspace(0, drop_path_rate, sum(depths)))
        self.layers = nn.ModuleList()
        for i in range(len(depths)):
            a = sum(depths[:i])
            self.layers.append(MMBasicLayer(C * 2 ** i, depths[i], sc["num_heads"][i],
                                            sc["window_size"], sc["mlp_ratio"], l_dim,
                                            fc["num_heads"][i], i < len(depths) - 1,
                                            [float(d) for d in dpr[a:a + depths[i]]]))
        for i in range(len(depths)):
            self.add_module("norm%d" % i, nn.LayerNorm(C * 2 ** i))
        self.num_features = [C * 2 ** i for i in range(len(depths))]

    def forward(self, x, l, lmask):
        x, H, W = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            xo, Ho, Wo, x, H, W = layer(x, H, W, l, lmask)
            xo = getattr(self, "norm%d" % i)(xo)
            outs.append(xo.view(-1, Ho, Wo, self.num_features[i]).permute(0, 3, 1, 2).contiguous())
        return outs


class SimpleDecoding(nn.Module):
    def __init__(self, c4, ncls=2, factor=2):
        super().__init__()
        h = c4 // factor
        c3, c2, c1 = c4 // factor, c4 // factor ** 2, c4 // factor ** 3
        self.conv1_4 = nn.Conv2d(c4 + c3, h, 3, padding=1, bias=False)
        self.bn1_4 = nn.BatchNorm2d(h)
        self.relu1_4 = nn.ReLU()
        self.conv2_4 = nn.Conv2d(h, h, 3, padding=1, bias=False)
        self.bn2_4 = nn.BatchNorm2d(h)
        self.relu2_4 = nn.ReLU()
        self.conv1_3 = nn.Conv2d(h + c2, h, 3, padding=1, bias=False)
        self.bn1_3 = nn.BatchNorm2d(h)
        self.relu1_3 = nn.ReLU()
        self.conv2_3 = nn.Conv2d(h, h, 3, padding=1, bias=False)
        self.bn2_3 = nn.BatchNorm2d(h)
        self.relu2_3 = nn.ReLU()
        self.conv1_2 = nn.Conv2d(h + c1, h, 3, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(h)
        self.relu1_2 = nn.ReLU()
        self.conv2_2 = nn.Conv2d(h, h, 3, padding=1, bias=False)
        self.bn2_2 = nn.BatchNorm2d(h)
        self.relu2_2 = nn.ReLU()
        self.conv1_1 = nn.Conv2d(h, ncls, 1)

    @staticmethod
    def _up(x, ref):
        if x.shape[-2] < ref.shape[-2] or x.shape[-1] < ref.shape[-1]:
            x = F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=True)
        return x

    def forward(self, y4, y3, y2, y1):
        x = torch.cat([self._up(y4, y3), y3], 1)
        x = self.relu2_4(self.bn2_4(self.conv2_4(self.relu1_4(self.bn1_4(self.conv1_4(x))))))
        x = torch.cat([self._up(x, y2), y2], 1)
        x = self.relu2_3(self.bn2_3(self.conv2_3(self.relu1_3(self.bn1_3(self.conv1_3(x))))))
        x = torch.cat([self._up(x, y1), y1], 1)
        x = self.relu2_2(self.bn2_2(self.conv2_2(self.relu1_2(self.bn1_2(self.conv1_2(x))))))
        return self.conv1_1(x)


class LAVTOne(nn.Module):
    def __init__(self, cfg, drop_path_rate=0.0):
        super().__init__()
        self.cfg = cfg
        sc, bc = cfg["swin"], cfg["bert"]
        self.backbone = MultiModalSwin(sc, cfg["fusion"], bc["hidden_size"], drop_path_rate)
        self.classifier = SimpleDecoding(8 * sc["embed_dim"], cfg["decoder"]["num_classes"])
        self.text_encoder = BertModel(bc)
        self._init_swin()

    def _init_swin(self):
        # Swin init: trunc-normal(0.02) Linear weights, zero bias, LN 1/0.
        # res_gate: the gate starts at exactly zero, as LAVT intends, but must
        # stay learnable. Zeroing BOTH of its layers would freeze it for good
        # (each one's gradient is proportional to the other's weights); the
        # official code zeroes both in MMBasicLayer but its backbone
        # init_weights() then re-initialises every Linear (res_gate included)
        # with trunc-normal(0.02). Here: layer 0 trunc-normal, layer 2 zero.
        for name, m in self.backbone.named_modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for l in self.backbone.layers:
            nn.init.zeros_(l.res_gate[2].weight)

    def forward(self, img, ids, mask):
        """img [B][3][S][S] normalised, ids/mask [B][T] -> logits [B][2][S][S]."""
        S = img.shape[-2:]
        l = self.text_encoder(ids, mask).permute(0, 2, 1)     # B,Lh,T
        y1, y2, y3, y4 = self.backbone(img, l, mask)
        x = self.classifier(y4, y3, y2, y1)
        return F.interpolate(x, size=S, mode="bilinear", align_corners=True)


def build_model(model_yaml, drop_path_rate=0.0):
    cfg = load_cfg(model_yaml) if isinstance(model_yaml, str) else model_yaml
    if cfg.get("arch") != "lavt_one":
        raise ValueError("arch %r is not lavt_one" % cfg.get("arch"))
    if not cfg["bert"].get("vocab_size"):
        raise ValueError("bert.vocab_size is 0: run tools/make_vocab.py first")
    return LAVTOne(cfg, drop_path_rate)


# --------------------------------------------------------------------------
# weights

def export_state(model):
    """Tensors for weights.safetensors: all parameters and BN running stats;
    no relative_position_index, no num_batches_tracked."""
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") or k.endswith("relative_position_index"):
            continue
        out[k] = v.detach().to(torch.float32).cpu().contiguous()
    return out


def save_safetensors(path, tensors, metadata=None):
    """tensors: name -> torch tensor or numpy array (stored as F32)."""
    names = sorted(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for n in names:
        t = tensors[n]
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        a = np.ascontiguousarray(a.astype("<f4"))
        b = a.tobytes()
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


_DT = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I32": "<i4", "I64": "<i8",
       "I8": "i1", "U8": "u1", "I16": "<i2", "BF16": None}


def load_safetensors(path):
    """-> (dict name -> torch.float32/int tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, d in header.items():
        a, b = d["data_offsets"]
        raw = data[base + a:base + b]
        if d["dtype"] == "BF16":
            u = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, _DT[d["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(d["shape"]).copy())
    return out, meta


def load_weights(model, path):
    sd, meta = load_safetensors(path)
    missing, unexpected = model.load_state_dict(
        {k: v.float() for k, v in sd.items() if not k.endswith("relative_position_index")},
        strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError("%s: missing %s unexpected %s" % (path, missing[:5], unexpected[:5]))
    return meta


# --------------------------------------------------------------------------
# input

def preprocess(img, cfg):
    """uint8 HWC RGB numpy -> float32 [3][S][S] tensor, normalised."""
    S = cfg["input"]["size"]
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
    if x.shape[1] != S or x.shape[2] != S:
        x = F.interpolate(x[None], size=(S, S), mode="bilinear", align_corners=False)[0]
    mean = torch.tensor(cfg["input"]["mean"], dtype=torch.float32)[:, None, None]
    std = torch.tensor(cfg["input"]["std"], dtype=torch.float32)[:, None, None]
    return (x - mean) / std
