using System.Runtime.CompilerServices;
using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>
/// Checks that a registration's inputs can be registered at all, before any engine work, with messages that name the
/// image (its file, or its grid when it was made in memory) and say what is wrong: no finite voxels, a mask with no
/// nonzero voxel, no contrast. The cmdlets and the BIDS pipeline call these before the engine.
/// </summary>
public static class InputChecks
{
    /// <summary>"the static image '/data/t1.nii.gz'", or "the static image (181x217 grid, made in memory)".</summary>
    public static string Describe(Image image, string role) => image.SourcePath is { } p
        ? $"the {role} image '{p}'"
        : $"the {role} image ({string.Join("x", image.Grid.Shape)} grid, made in memory)";

    /// <summary>
    /// Affine (mutual information): <paramref name="mask"/>, when given, has a nonzero voxel; the image has finite
    /// voxels inside it; and they are not all the same value. NaN voxels elsewhere are the engine's business.
    /// </summary>
    /// <exception cref="ArgumentException">One of the above fails; the message names the image (and mask).</exception>
    public static void ForAffine(Image image, string role, Image? mask)
    {
        ArgumentNullException.ThrowIfNull(image);
        int n = image.Grid.VoxelCount;
        var v = image.Buffer;
        float[]? m = mask is not null && mask.Grid.VoxelCount == n ? mask.Buffer : null; // other sizes: the engine says so
        if (m is not null)
        {
            int inside = 0;
            for (int i = 0; i < n; i++) if (m[i] != 0 && !float.IsNaN(m[i])) inside++;
            if (inside == 0)
                throw new ArgumentException($"The {role} mask{Source(mask!)} is all zero, so no voxel of {Describe(image, role)} would be used; "
                    + "a mask marks with nonzero values the voxels to register.", role);
        }
        int finite = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            if (m is not null && (m[i] == 0 || float.IsNaN(m[i]))) continue;
            float x = v[i];
            if (!float.IsFinite(x)) continue;
            finite++;
            if (x < min) min = x;
            if (x > max) max = x;
        }
        string where = m is null ? "" : " inside its mask";
        if (finite == 0)
            throw new ArgumentException($"{Capital(Describe(image, role))} has no finite voxels{where}: every one is NaN or infinite.", role);
        if (!(max > min))
            throw new ArgumentException($"{Capital(Describe(image, role))} is constant{where} (every finite voxel is {min:G6}); there is nothing to register.", role);
    }

    /// <summary>SyN (cross-correlation): every voxel is finite, and the image is not constant.</summary>
    /// <exception cref="ArgumentException">Either fails; the message names the image and counts the bad voxels.</exception>
    // one pass over every voxel of both images: compiled optimised at once (tier 0 ran it several times slower until on-stack replacement)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForSyn(Image image, string role)
    {
        ArgumentNullException.ThrowIfNull(image);
        int n = image.Grid.VoxelCount;
        var d = image.Buffer;
        int bad = 0, firstBad = -1;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            float x = d[i];
            if (!float.IsFinite(x)) { if (bad++ == 0) firstBad = i; continue; }
            if (x < min) min = x;
            if (x > max) max = x;
        }
        if (bad == n)
            throw new ArgumentException($"{Capital(Describe(image, role))} has no finite voxels: all {n:N0} are NaN or infinite.", role);
        if (bad > 0)
            throw new ArgumentException($"{Capital(Describe(image, role))} has {bad:N0} NaN or infinite voxel(s) (the first at index {firstBad:N0}); "
                + "replace them (for example with 0) before registering.", role);
        if (!(max > min))
            throw new ArgumentException($"{Capital(Describe(image, role))} is constant (every voxel is {min:G6}); there is nothing to register.", role);
    }

    private static string Source(Image mask) => mask.SourcePath is { } p ? $" '{p}'" : "";

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
