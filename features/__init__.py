"""The feature store stage: feature tables from the lake, the Feast repo, training sets, online reads.

Import the submodule you need; this package imports nothing heavy (serving imports
`features.request_time` and `features.contract` without paying for `import feast`).
"""
