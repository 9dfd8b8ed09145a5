"""The same function on CVAT's other routes: cvat-sdk auto-annotation and agent-based (native) functions.

`cvat_function.sdk.function` is the module to pass to `cvat-cli` (`--function-module cvat_function.sdk.function`);
its `create(**params)` loads the function folder's `ModelHandler` and `function.yaml` exactly as `init_context`
does and returns a detection, interaction or tracking function for cvat-sdk, chosen by `annotations.type`.
This package needs `cvat-sdk` (and `cvat-cli` to run it); the function image never imports it.
"""
