"""Explanation: class activation maps and Grad-CAM, maps as pictures, localization scores,
occlusion, shortcut detection."""
