"""Models: ImageNet backbones with offline weights, frozen networks on a fast runtime, features, GAP
classifiers, training plumbing."""
