// SPDX-License-Identifier: Apache-2.0
#pragma once
// mmcv-ops umbrella header: every MMCV operator (mmcv.ops) on LibTorch tensors.
// Include one module (<mmcv/ops/nms.hpp>) instead to keep compile times down.

#include <mmcv/ops/version.hpp>

#include <mmcv/ops/bbox.hpp>
#include <mmcv/ops/nms.hpp>
#include <mmcv/ops/box_iou_quadri.hpp>
#include <mmcv/ops/box_iou_rotated.hpp>
#include <mmcv/ops/roi_align.hpp>
#include <mmcv/ops/roi_align_module.hpp>  // RoIAlign (torch::nn)
#include <mmcv/ops/roi_align_rotated.hpp>
#include <mmcv/ops/roi_align_rotated_module.hpp>  // RoIAlignRotated (torch::nn)
#include <mmcv/ops/roi_pool.hpp>
#include <mmcv/ops/roi_pool_module.hpp>  // RoIPool (torch::nn)
#include <mmcv/ops/deform_conv.hpp>
#include <mmcv/ops/deform_conv_module.hpp>  // DeformConv2d, DeformConv2dPack (torch::nn)
#include <mmcv/ops/modulated_deform_conv.hpp>
#include <mmcv/ops/modulated_deform_conv_module.hpp>  // ModulatedDeformConv2d(Pack) (torch::nn)
#include <mmcv/ops/focal_loss.hpp>
#include <mmcv/ops/focal_loss_module.hpp>  // SigmoidFocalLoss, SoftmaxFocalLoss (torch::nn)
#include <mmcv/ops/upfirdn2d.hpp>
#include <mmcv/ops/bias_act.hpp>
#include <mmcv/ops/fused_bias_leakyrelu.hpp>
#include <mmcv/ops/fused_bias_leakyrelu_module.hpp>  // FusedBiasLeakyReLU (torch::nn)
#include <mmcv/ops/filtered_lrelu.hpp>
#include <mmcv/ops/conv2d_gradfix.hpp>
#include <mmcv/ops/knn.hpp>
#include <mmcv/ops/three_nn.hpp>
#include <mmcv/ops/three_interpolate.hpp>
#include <mmcv/ops/gather_points.hpp>
#include <mmcv/ops/group_points.hpp>
#include <mmcv/ops/group_points_module.hpp>  // QueryAndGroup, GroupAll (torch::nn)
#include <mmcv/ops/furthest_point_sample.hpp>
#include <mmcv/ops/points_sampler.hpp>
#include <mmcv/ops/ball_query.hpp>
#include <mmcv/ops/assign_score_withk.hpp>
#include <mmcv/ops/chamfer_distance.hpp>
#include <mmcv/ops/masked_conv.hpp>
#include <mmcv/ops/masked_conv_module.hpp>  // MaskedConv2d (torch::nn)
#include <mmcv/ops/carafe.hpp>
#include <mmcv/ops/carafe_module.hpp>  // CARAFE, CARAFENaive, CARAFEPack (torch::nn)
#include <mmcv/ops/correlation.hpp>
#include <mmcv/ops/correlation_module.hpp>  // Correlation (torch::nn)
#include <mmcv/ops/tin_shift.hpp>
#include <mmcv/ops/tin_shift_module.hpp>  // TINShift (torch::nn)
#include <mmcv/ops/psa_mask.hpp>
#include <mmcv/ops/psa_mask_module.hpp>  // PSAMask (torch::nn)
#include <mmcv/ops/active_rotated_filter.hpp>
