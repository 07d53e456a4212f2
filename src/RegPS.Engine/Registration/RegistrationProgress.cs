namespace RegPS.Engine.Registration;

/// <summary>
/// One progress report of a long engine call: the stage (e.g. "rigid", "syn"), the pyramid level
/// (0 = coarsest, counting up to Levels-1), the iteration or function evaluation within the level, and the metric value.
/// </summary>
public sealed record RegistrationProgress(string Stage, int Level, int Levels, int Iteration, int MaxIterations, double Metric)
{
    /// <summary>Optional one-line message (e.g. DIPY's "Optimizing level 2 [max iter: 100]"), shown with -Verbose.</summary>
    public string? Message { get; init; }
}
