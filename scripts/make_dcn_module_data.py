#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes tests/data/dcn_modules.pt: state_dicts of MMCV's deformable-convolution modules (with
MMCV's parameter names and shapes), an input, and their outputs, for the C++ module tests.

Run with Debian's python3-torch (torch 1.13 + torchvision), not a pyenv python:
    /usr/bin/python3 scripts/make_dcn_module_data.py [out.pt]

MMCV is not needed: MMCV's deform_conv2d / modulated_deform_conv2d equal
torchvision.ops.deform_conv2d without / with mask (see ../shared/MMCV_OPS.md), so the expected
outputs come from torchvision, with the modules' forward written as in mmcv/ops/deform_conv.py and
modulated_deform_conv.py (Pack: offset = conv_offset(x); DCNv2 Pack: o1, o2, m = chunk(3),
offset = cat(o1, o2), mask = sigmoid(m)). The "init.*" entries replay MMCV's constructors'
random-initialisation sequence from a fixed seed (weight init, then nn.Conv2d's own init of
conv_offset, then MMCV's re-init / zeroing), so the C++ constructors can be checked against it.

The file is a flat dict str -> Tensor (zipfile serialization), like the reference cases, and is
byte-for-byte reproducible.
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d as tv_deform_conv2d

INIT_SEED = 1234


def dcn_pack_init(in_ch, out_ch, k, groups, dg):
    """MMCV DeformConv2dPack.__init__'s random-number use: weight kaiming_uniform_(relu), then
    nn.Conv2d (its own kaiming / uniform init), then conv_offset zeroed."""
    weight = torch.empty(out_ch, in_ch // groups, k, k)
    nn.init.kaiming_uniform_(weight, nonlinearity='relu')
    conv_offset = nn.Conv2d(in_ch, dg * 2 * k * k, k, 1, 1, 1, bias=True)
    conv_offset.weight.data.zero_()
    conv_offset.bias.data.zero_()
    return weight


def mdcn_pack_init(in_ch, out_ch, k, groups, dg):
    """MMCV ModulatedDeformConv2dPack.__init__: init_weights (weight ~ U(-stdv, stdv), bias 0),
    nn.Conv2d, then init_weights again (weight re-drawn, conv_offset zeroed)."""
    weight = torch.empty(out_ch, in_ch // groups, k, k)
    bias = torch.empty(out_ch)
    stdv = 1. / math.sqrt(in_ch * k * k)

    def init_weights():
        weight.data.uniform_(-stdv, stdv)
        bias.data.zero_()

    init_weights()
    conv_offset = nn.Conv2d(in_ch, dg * 3 * k * k, k, 1, 1, 1, bias=True)
    init_weights()
    conv_offset.weight.data.zero_()
    conv_offset.bias.data.zero_()
    return weight, bias


def main(path):
    d = {}
    torch.manual_seed(INIT_SEED)
    d['init.dcn_pack.weight'] = dcn_pack_init(6, 8, 3, groups=2, dg=2)
    torch.manual_seed(INIT_SEED)
    w, b = mdcn_pack_init(6, 8, 3, groups=2, dg=2)
    d['init.mdcn_pack.weight'], d['init.mdcn_pack.bias'] = w, b
    d['param.init_seed'] = torch.tensor(INIT_SEED)

    torch.manual_seed(0)
    x = torch.randn(2, 6, 9, 8)
    d['in.x'] = x

    # DeformConv2dPack(6, 8, 3, stride=1, padding=1, dilation=1, groups=2, deform_groups=2).
    sd = {
        'weight': torch.randn(8, 3, 3, 3) * 0.2,
        'conv_offset.weight': torch.randn(36, 6, 3, 3) * 0.15,
        'conv_offset.bias': torch.randn(36) * 0.5,
    }
    offset = F.conv2d(x, sd['conv_offset.weight'], sd['conv_offset.bias'], 1, 1, 1)
    d['aux.dcn_pack_offset'] = offset
    d['out.dcn_pack'] = tv_deform_conv2d(x, offset, sd['weight'], None, 1, 1, 1)
    d.update({'dcn_pack.' + k: v for k, v in sd.items()})

    # DeformConv2d(6, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=1, groups=1,
    # deform_groups=3): output 5 x 7.
    w = torch.randn(4, 6, 3, 2) * 0.2
    off = torch.randn(2, 2 * 3 * 6, 5, 7) * 1.5
    d['dcn.weight'] = w
    d['in.dcn_offset'] = off
    d['out.dcn'] = tv_deform_conv2d(x, off, w, None, (2, 1), (1, 0), 1)

    # ModulatedDeformConv2dPack(6, 8, 3, stride=1, padding=1, dilation=1, groups=2,
    # deform_groups=2, bias=True).
    sd = {
        'weight': torch.randn(8, 3, 3, 3) * 0.2,
        'bias': torch.randn(8) * 0.1,
        'conv_offset.weight': torch.randn(54, 6, 3, 3) * 0.15,
        'conv_offset.bias': torch.randn(54) * 0.5,
    }
    out = F.conv2d(x, sd['conv_offset.weight'], sd['conv_offset.bias'], 1, 1, 1)
    o1, o2, m = torch.chunk(out, 3, dim=1)
    offset = torch.cat((o1, o2), dim=1)
    mask = torch.sigmoid(m)
    d['aux.mdcn_pack_offset'] = offset
    d['aux.mdcn_pack_mask'] = mask
    d['out.mdcn_pack'] = tv_deform_conv2d(x, offset, sd['weight'], sd['bias'], 1, 1, 1, mask)
    d.update({'mdcn_pack.' + k: v for k, v in sd.items()})

    # ModulatedDeformConv2d(6, 4, 3, stride=1, padding=2, dilation=2, groups=1, deform_groups=1,
    # bias=False): output 9 x 8.
    w = torch.randn(4, 6, 3, 3) * 0.2
    off = torch.randn(2, 18, 9, 8) * 1.5
    msk = torch.rand(2, 9, 9, 8)
    d['mdcn.weight'] = w
    d['in.mdcn_offset'] = off
    d['in.mdcn_mask'] = msk
    d['out.mdcn'] = tv_deform_conv2d(x, off, w, None, 1, 2, 2, msk)

    torch.save({k: v.contiguous() for k, v in d.items()}, path)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'tests/data/dcn_modules.pt')
