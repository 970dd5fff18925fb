"""``marketcast models``: what models there are, their defaults and architecture."""

from __future__ import annotations

import typer

app = typer.Typer(help="List the models, or describe one.", invoke_without_command=True)


@app.callback()
def models(ctx: typer.Context) -> None:
    """Every model with one line each."""
    if ctx.invoked_subcommand is not None:
        return
    from marketcast import api
    from marketcast.cli._common import print_frame

    print_frame(
        api.models()[["name", "target", "summary"]],
        title="marketcast models",
        caption="price models: backtest, forecast, train; volatility models: volatility.",
    )


@app.command("describe")
def describe(
    name: str = typer.Argument(..., help="Model name."),
    target: str = typer.Option("price", "--target", "-t", help="price or volatility."),
) -> None:
    """Defaults, architecture and parameter count of a model."""
    from rich.console import Console

    from marketcast.errors import ModelError
    from marketcast.models.registry import get_model, spec_of

    if target not in ("price", "volatility"):
        raise ModelError(f"--target must be price or volatility, not '{target}'")
    spec = spec_of(name.split("(")[0], target)  # type: ignore[arg-type]  # ensemble(sma,lstm) is an ensemble
    model = get_model(name, target)  # type: ignore[arg-type]
    console = Console()
    console.print(f"[bold]{spec.name}[/] ({spec.target}): {spec.summary}")
    console.print(f"class: {spec.path.replace(':', '.')}")
    doc = (type(model).__doc__ or "").strip().split("\n\n")[0]
    if doc:
        console.print(doc, markup=False)
    caps = [k for k, v in model.capabilities.as_dict().items() if v]
    console.print(f"capabilities: {', '.join(caps) or 'none'}", markup=False)
    console.print("defaults:")
    for key, value in model.get_params().items():
        console.print(f"  {key} = {value!r}", markup=False)
    if hasattr(model, "member_models"):
        console.print("members:")
        for member in model.member_models():
            size = f" ({member.n_parameters():,} trainable parameters)" if hasattr(member, "n_parameters") else ""
            console.print(f"  {member.name}{size}", markup=False)
    if hasattr(model, "n_parameters"):
        console.print(f"trainable parameters: {model.n_parameters():,}")
        console.print(model.describe_network(), markup=False)
