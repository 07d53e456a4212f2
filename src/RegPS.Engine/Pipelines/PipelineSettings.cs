using System.Globalization;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Pipelines;

/// <summary>
/// Everything that decides a subject's derivatives: the template (name and content hash), the mode and the registration
/// options. <see cref="CanonicalParameters"/> spells them out in a fixed order; a subject whose sidecar records the same
/// <see cref="ParameterHash"/> and input hash is up to date. Thread counts are not part of it: the engine gives the
/// same result at any thread count.
/// </summary>
public sealed record PipelineSettings
{
    /// <summary>The template space label (a BIDS label, e.g. MNI152NLin2009cAsym).</summary>
    public required string TemplateName { get; init; }

    /// <summary><see cref="ContentHash.OfImage"/> of the template.</summary>
    public required string TemplateHash { get; init; }

    /// <summary>The file the template was read from, if any (recorded in the sidecar).</summary>
    public string? TemplateSource { get; init; }

    public RegistrationMode Mode { get; init; } = RegistrationMode.Syn;

    /// <summary>The affine stage's options (the chain translation, rigid, affine after centres of mass by default).</summary>
    public AffineOptions Affine { get; init; } = new();

    /// <summary>The SyN stage's options (Syn mode only).</summary>
    public SynOptions Syn { get; init; } = new();

    /// <summary>Threads per subject for the engine (registration and resampling); 0 = all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>The RegPS version written to the sidecars and dataset_description.json.</summary>
    public string Version { get; init; } = "0.0.0";

    /// <summary>The parameters that decide the result, as one line of key=value pairs in a fixed order.</summary>
    public string CanonicalParameters()
    {
        static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        static string L<T>(IEnumerable<T> values, Func<T, string> f) => string.Join(",", values.Select(f));
        var a = Affine;
        var parts = new List<string>
        {
            "pipeline=bids-registration/2",
            $"mode={Mode}",
            $"template={TemplateName}",
            $"templateSha256={TemplateHash}",
            $"affine.initialization={a.Initialization}",
            $"affine.initialMatrix={(a.InitialMatrix is { } m ? L(m.ToRows().SelectMany(r => r), N) : "none")}",
            $"affine.stages={L(a.Stages, s => s.ToString())}",
            $"affine.center={a.Center}",
            $"affine.bins={a.Bins}",
            $"affine.levelIterations={L(a.LevelIterations, i => i.ToString(CultureInfo.InvariantCulture))}",
            $"affine.sigmas={L(a.Sigmas, N)}",
            $"affine.factors={L(a.Factors, i => i.ToString(CultureInfo.InvariantCulture))}",
            $"affine.samplingProportion={(a.SamplingProportion is { } p ? N(p) : "none")}",
            $"affine.sampling={a.Sampling}",
            $"affine.sampleCounts={L(a.SampleCounts, i => i.ToString(CultureInfo.InvariantCulture))}",
            $"affine.cubic={a.CubicInterpolation}",
            $"affine.edgeMargin={a.EdgeMargin}",
            $"affine.shortEarlyStages={a.ShortEarlyStages}",
            $"affine.parameterTolerance={N(a.ParameterTolerance)}",
            $"affine.seed={a.Seed}",
            $"affine.excludeOutsideSamples={a.ExcludeOutsideSamples}",
            $"affine.gradientTolerance={N(a.GradientTolerance)}",
            $"affine.functionTolerance={N(a.FunctionTolerance)}",
            $"affine.historySize={a.HistorySize}",
        };
        if (a.StaticMask is not null || a.MovingMask is not null)
            throw new NotSupportedException("The dataset pipeline does not take registration masks.");
        if (Mode == RegistrationMode.Syn)
        {
            var s = Syn;
            parts.AddRange(new[]
            {
                $"syn.metric={s.Metric}",
                $"syn.radius={s.RadiusFor(3)}",
                $"syn.sigmaDiff={N(s.SigmaDiff)}",
                $"syn.preset={s.Preset}",
                $"syn.levelIterations={L(s.IterationsFor(3), i => i.ToString(CultureInfo.InvariantCulture))}",
                $"syn.stopAtConvergence={s.StopAtConvergence}",
                $"syn.minimumOptimizedSpacing={N(s.MinimumOptimizedSpacing)}",
                $"syn.stepLength={N(s.StepLength)}",
                $"syn.stepScaling={s.StepScaling}",
                $"syn.smoothingTruncate={N(s.SmoothingTruncate)}",
                $"syn.imageLevelInterpolation={s.ImageLevelInterpolation}",
                $"syn.reinversion={s.ReinversionFor(3)}",
                $"syn.stepSmoothing={s.StepSmoothing}",
                $"syn.inversionSteps={s.InversionStepsFor(3)}",
                $"syn.ssSigmaFactor={N(s.SsSigmaFactor)}",
                $"syn.optTol={N(s.OptTol)}",
                $"syn.invIter={s.InvIter}",
                $"syn.invTol={N(s.InvTol)}",
                $"syn.energyWindow={s.EnergyWindow}",
                $"syn.ssdSmooth={N(s.SsdSmooth)}",
            });
        }
        parts.Add("output=float32,linear");
        return string.Join(";", parts);
    }

    /// <summary>SHA-256 of <see cref="CanonicalParameters"/>.</summary>
    public string ParameterHash => ContentHash.OfText(CanonicalParameters());
}
