using RegPS.Engine.Fields;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Transforms;

/// <summary>
/// One spatial transform of a chain. Like every ITK/ANTs transform (and RegPS's maps) it is a pull-back: it maps a
/// point on the reference (output) side to the point on the input (moving) side that the output voxel takes its value
/// from. Points are RAS world millimetres.
/// </summary>
public abstract class TransformStep
{
    /// <summary>2 or 3.</summary>
    public abstract int Dimension { get; }

    /// <summary>What the step is, for display ("affine", "displacement field 64x64x40 ...").</summary>
    public abstract string Kind { get; }

    /// <summary>Where the step was read from (a file, or a file and the index of the transform inside it); may be empty.</summary>
    public string Source { get; init; } = "";

    /// <summary>Maps a reference-side point to the input-side point (RAS mm).</summary>
    public abstract (double X, double Y, double Z) Apply(double x, double y, double z);

    /// <summary>The step in the other direction; throws when it cannot be inverted exactly.</summary>
    public abstract TransformStep Inverse();

    public override string ToString() => string.IsNullOrEmpty(Source) ? Kind : $"{Kind} ({Source})";
}

/// <summary>A linear step: x -> M x with M a 4x4 RAS world matrix (DIPY's AffineMap.affine meaning).</summary>
public sealed class AffineStep : TransformStep
{
    public AffineStep(Matrix4 matrix, int dimension = 3)
    {
        if (!matrix.IsFinite || !matrix.TryInverse(out _)) throw new ArgumentException("An affine step needs a finite, invertible matrix.", nameof(matrix));
        if (dimension is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(dimension));
        Matrix = matrix;
        Dimension = dimension;
    }

    public Matrix4 Matrix { get; }
    public override int Dimension { get; }
    public override string Kind => "affine";
    public override (double X, double Y, double Z) Apply(double x, double y, double z) => Matrix.Apply(x, y, z);
    public override TransformStep Inverse() => new AffineStep(Matrix.Inverse(), Dimension) { Source = Source };
}

/// <summary>
/// A dense displacement field step: x -> x + d(x), with d (RAS mm) interpolated linearly on the field's own grid as
/// ITK's DisplacementFieldTransform does: inside -0.5 &lt;= index &lt; n - 0.5 neighbours are clamped to the grid,
/// and beyond that the displacement is zero. <see cref="InverseField"/>, when known (RegPS's backward field, ANTs'
/// InverseWarp), makes the step invertible.
/// </summary>
public sealed class DisplacementFieldStep : TransformStep
{
    private readonly float[] _d;
    private readonly int _nx, _ny, _nz, _c;
    private readonly Matrix4 _w2g;

    public DisplacementFieldStep(DisplacementField field, DisplacementField? inverseField = null)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (inverseField is not null && !inverseField.Grid.SameAs(field.Grid, 1e-4))
            throw new ArgumentException("A field and its inverse must lie on the same grid.", nameof(inverseField));
        Field = field;
        InverseField = inverseField;
        _d = field.Buffer;
        var g = field.Grid;
        _nx = g.NX; _ny = g.NY; _nz = g.NZ; _c = field.Components;
        _w2g = g.WorldToGrid;
    }

    public DisplacementField Field { get; }
    public DisplacementField? InverseField { get; }
    public override int Dimension => Field.Components;
    public override string Kind => $"displacement field {Field.Grid}";

    public override TransformStep Inverse() => InverseField is null
        ? throw new InvalidOperationException($"The displacement field {Source} cannot be inverted exactly: give its inverse field instead (antsRegistration writes it as *InverseWarp.nii.gz).")
        : new DisplacementFieldStep(InverseField, Field) { Source = Source + " (inverse)" };

    public override (double X, double Y, double Z) Apply(double x, double y, double z)
    {
        var (i, j, k) = _w2g.Apply(x, y, z);
        if (_c == 2) k = 0;
        if (!(i >= -0.5 && i < _nx - 0.5 && j >= -0.5 && j < _ny - 0.5 && k >= -0.5 && k < _nz - 0.5)) return (x, y, z);
        Linear.FieldClamped(_d, _c, _nx, _ny, _nz, i, j, k, out double dx, out double dy, out double dz);
        return (x + dx, y + dy, z + dz);
    }
}

/// <summary>
/// A list of transforms in an ITK CompositeTransform's queue order, which is the order the image travels through them
/// (from its own space to the reference): a point of the output grid goes through the LAST step first. antsRegistration's
/// composite is [affine, warp]: T(x) = A(W(x)). antsApplyTransforms' command line lists the same transforms the other
/// way round (-t 1Warp.nii.gz -t 0GenericAffine.mat: the first listed acts first on points, the last listed first on the image).
/// </summary>
public sealed class TransformChain
{
    public TransformChain(IEnumerable<TransformStep> steps, string source = "")
    {
        Steps = steps.ToArray();
        if (Steps.Count > 0 && Steps.Any(s => s.Dimension != Steps[0].Dimension))
            throw new ArgumentException("All steps of a chain must be 2D or all 3D.");
        Source = source;
    }

    /// <summary>ITK composite (image-travel) order: the last step is applied first to an output point.</summary>
    public IReadOnlyList<TransformStep> Steps { get; }

    /// <summary>The file the chain was read from, if any.</summary>
    public string Source { get; }

    public int Dimension => Steps.Count == 0 ? 3 : Steps[0].Dimension;

    /// <summary>The chain in the other direction: the steps reversed, each inverted.</summary>
    public TransformChain Inverse() => new(Steps.Reverse().Select(s => s.Inverse()).ToArray(), Source);

    /// <summary>Maps an output (reference-side) point to the input point: the steps from last to first.</summary>
    public (double X, double Y, double Z) Apply(double x, double y, double z)
    {
        for (int s = Steps.Count - 1; s >= 0; s--) (x, y, z) = Steps[s].Apply(x, y, z);
        return (x, y, z);
    }

    /// <summary>The steps of a RegPS map: an AffineMap is [A]; a DiffeomorphicMap y -> P(y + f(y)) is [P, f] (f applied first).</summary>
    public static TransformChain FromMap(object map, string source = "") => map switch
    {
        AffineMap a => new TransformChain(new TransformStep[] { new AffineStep(a.Affine, a.Domain.Dimension) { Source = source } }, source),
        DiffeomorphicMap d => new TransformChain(new TransformStep[]
        {
            new AffineStep(d.Prealign, d.Domain.Dimension) { Source = source },
            new DisplacementFieldStep(d.Forward, d.Backward) { Source = source },
        }, source),
        TransformChain c => c,
        _ => throw new ArgumentException($"Not a transform: {map?.GetType().Name ?? "null"}."),
    };

    /// <summary>All steps of several chains, each optionally inverted, in the same (image-travel) order.</summary>
    public static TransformChain Concat(IEnumerable<(TransformChain Chain, bool Invert)> parts) =>
        new(parts.SelectMany(p => (p.Invert ? p.Chain.Inverse() : p.Chain).Steps).ToArray());

    public override string ToString() => Steps.Count == 0 ? "identity" : "[" + string.Join(", ", Steps.Select(s => s.Kind)) + "]";
}
