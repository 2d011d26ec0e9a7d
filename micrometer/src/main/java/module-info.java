/**
 * braid's Micrometer binding: {@link dev.braid.micrometer.BraidMetrics}, a {@link dev.braid.BraidObserver}
 * that records into a Micrometer {@code MeterRegistry}.
 */
// requires-automatic, requires-transitive-automatic: Micrometer names its module in its manifest (micrometer.core),
// and users of this module use its MeterRegistry
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.braid.micrometer {
    requires transitive dev.braid;
    requires transitive micrometer.core;

    exports dev.braid.micrometer;
}
