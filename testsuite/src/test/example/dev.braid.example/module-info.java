/** A braid user's module: requires the API only; the backends come through the service loader. */
module dev.braid.example {
    requires dev.braid;
}
