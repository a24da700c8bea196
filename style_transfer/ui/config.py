"""Every default of the web app, in one frozen dataclass (`UIConfig`): cli/ui.py generates its flags from it, as
run.py does from StyleConfig, and `build_app` takes an instance."""

from __future__ import annotations

import dataclasses

from style_transfer.core.config import DEFAULT, NETWORK_CHOICES, ConfigMethods, check, config_field, normalize_fields

_STYLE_HELP = {field.name: field.metadata["help"] for field in dataclasses.fields(DEFAULT)}


@dataclasses.dataclass(frozen=True)
class UIConfig(ConfigMethods):
    """Where the app listens, which features and trained networks it offers, and how much work it takes on."""

    port: int = config_field(7860, "The port to listen on; 0: any free port (the address printed names it).")
    host: str = config_field("127.0.0.1", "The address to listen on: 127.0.0.1 answers this machine only; "
                             "0.0.0.0 every network the machine is on (anyone who can reach it can use the app).")
    share: bool = config_field(False, "Also open a temporary public link through Gradio's share servers (off: "
                               "nothing leaves this machine).")
    network: str = config_field(DEFAULT.network, _STYLE_HELP["network"] + " The Paint tab starts with it.",
                                NETWORK_CHOICES)
    weights: str = config_field(DEFAULT.weights, _STYLE_HELP["weights"] + " A file serves --network only.")
    models: str = config_field("", "A folder of trained networks for the Fast tab: the model directories of "
                               "style-transfer-train runs or their exports, one per subfolder (empty: no Fast "
                               "networks). Read on this machine only; the page names each network by its folder's "
                               "name.")
    workers: int = config_field(1, "How many paintings are made at once; more wait in a queue. One on a CPU: two "
                                "runs would share its cores, each at half speed, with twice the memory.")
    largest_size: int = config_field(1024, "The largest output size (longest side, pixels) the page offers.")
    max_megapixels: float = config_field(DEFAULT.max_megapixels, _STYLE_HELP["max_megapixels"])

    def __post_init__(self):
        normalize_fields(self)
        check(0 <= self.port <= 65535, "port", f"must be in [0, 65535] (0: any free port), got {self.port}")
        check(self.host.strip() != "", "host", "must be an address such as 127.0.0.1")
        check(self.workers >= 1, "workers", f"must be at least 1, got {self.workers}")
        check(self.largest_size >= 32, "largest_size", f"must be at least 32, got {self.largest_size}")
        check(self.max_megapixels > 0, "max_megapixels", f"must be > 0, got {self.max_megapixels}")


UI_DEFAULT = UIConfig()
