#ifndef SSM_KERNELS_CUDA_ELEMENT_TYPE_H_
#define SSM_KERNELS_CUDA_ELEMENT_TYPE_H_

namespace ssm::kernels::cuda {

// How a weight matrix is stored on the device. Activations and state are always fp32; matrices
// keep the checkpoint's precision or are narrowed to bf16 when loaded.
enum class ElementType { kF32, kF16, kBF16 };

inline int ElementBytes(ElementType type) { return type == ElementType::kF32 ? 4 : 2; }

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_ELEMENT_TYPE_H_
