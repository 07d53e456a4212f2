namespace RegPS.Engine.Pipelines;

/// <summary>
/// Whether a subject's derivatives are up to date: its sidecar exists and reads, records the same input hash and the
/// same parameter hash, and every output it should have exists. Otherwise <see cref="Reason"/> says what is stale.
/// </summary>
public sealed record SkipDecision(bool UpToDate, string Reason, RegistrationSidecar? Sidecar)
{
    public static SkipDecision Decide(SubjectOutputs outputs, string inputHash, string parameterHash)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var sidecar = RegistrationSidecar.TryRead(outputs.Sidecar);
        if (sidecar is null)
            return new(false, File.Exists(outputs.Sidecar) ? "the sidecar cannot be read" : "no sidecar (not registered yet, or interrupted)", null);
        if (!string.Equals(sidecar.InputSHA256, inputHash, StringComparison.OrdinalIgnoreCase))
            return new(false, "the input file changed since it was registered", sidecar);
        if (!string.Equals(sidecar.ParametersSHA256, parameterHash, StringComparison.OrdinalIgnoreCase))
            return new(false, "the template or the parameters changed since it was registered", sidecar);
        foreach (var f in outputs.All)
            if (!File.Exists(f)) return new(false, $"{outputs.Relative(f)} is missing", sidecar);
        return new(true, "up to date", sidecar);
    }
}
