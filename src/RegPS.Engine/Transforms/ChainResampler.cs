using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Transforms;

/// <summary>
/// Applies a whole chain of transforms in one resampling (antsApplyTransforms' model): for every voxel of the
/// reference grid, its world point goes through the steps from last to first, lands in the input image's world, and
/// the input is interpolated there once, so a chain of n steps costs one interpolation, not n.
/// </summary>
public static class ChainResampler
{
    /// <summary>
    /// Resamples <paramref name="input"/> (every volume of a 4D image, one after the other, through the same points)
    /// onto <paramref name="reference"/>. Points outside the input (ITK's -0.5 &lt;= index &lt; n - 0.5) get
    /// <paramref name="defaultValue"/>.
    /// </summary>
    public static Image Apply(Image input, Grid reference, TransformChain chain, Interpolation interpolation = Interpolation.Linear,
        float defaultValue = 0f, int maxDegree = 0, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Steps.Count > 0 && chain.Dimension != input.Dimension)
            throw new ArgumentException($"The transforms are {chain.Dimension}D but the image is {input.Dimension}D.");
        // Fold runs of affine steps (and the grid matrices at both ends) into single matrices.
        var ops = new List<object>(); // Matrix4 or TransformStep, in point order (first applied first)
        var pending = reference.GridToWorld;
        for (int s = chain.Steps.Count - 1; s >= 0; s--)
        {
            if (chain.Steps[s] is AffineStep a) { pending = a.Matrix * pending; continue; }
            ops.Add(pending);
            ops.Add(chain.Steps[s]);
            pending = Matrix4.Identity;
        }
        ops.Add(input.Grid.WorldToGrid * pending);

        var src = input.Buffer;
        int nIn = input.Grid.VoxelCount, nOut = reference.VoxelCount, vols = input.Volumes;
        var samplers = new VolumeSampler[vols];
        for (int v = 0; v < vols; v++)
        {
            ct.ThrowIfCancellationRequested();
            samplers[v] = new VolumeSampler(src, v * nIn, input.Grid, interpolation, SampleDomain.Itk, defaultValue);
        }
        var dst = new float[(long)nOut * vols];
        int nx = reference.NX, ny = reference.NY;
        bool twoD = input.Dimension == 2;
        SliceIterator.For(reference.NZ * ny, maxDegree, r =>
        {
            if (ct.IsCancellationRequested) return;
            int j = r % ny, k = r / ny;
            for (int i = 0; i < nx; i++)
            {
                double x = i, y = j, z = k;
                foreach (var op in ops)
                    (x, y, z) = op is Matrix4 m ? m.Apply(x, y, z) : ((TransformStep)op).Apply(x, y, z);
                if (twoD) z = 0;
                int o = r * nx + i;
                for (int v = 0; v < vols; v++) dst[(long)v * nOut + o] = samplers[v].Sample(x, y, z);
            }
        });
        ct.ThrowIfCancellationRequested();
        return new Image(reference, dst, vols, null, input.SourcePath, input.DataType, input.SourceHeader);
    }
}
