"""Serving attention in TensorBoard: `store` reads records through TensorBoard's data provider,
`queries` answers each route as a plain function, `http` maps parameters and errors to HTTP,
`static` serves the panel's files, `plugin` wires the routes into TensorBoard."""
